"""What the records mean: explanations of the model (``explain``: data, no printing),
backtests on recorded tables (``backtest``), the read models the dashboard and the
report share (``readmodels``) and, for several objectives or outcome constraints, the
measured Pareto front, hypervolume and constraint violations they all show (``goals``).
Never imports ``controller.ui``."""
