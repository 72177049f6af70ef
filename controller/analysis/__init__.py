"""What the records mean: explanations of the model (``explain``: data, no printing),
backtests on recorded tables (``backtest``) and the read models the dashboard and the
report share (``readmodels``). Never imports ``controller.ui``."""
