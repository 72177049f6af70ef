"""The closed loop: ``runner.CampaignRunner`` (a small state machine), the records a dispatch
ends as (``dispatch``), the operators' gate (``gate``), crash recovery (``recovery``), the
record chain check before a run (``custody``), the result and recommendation (``outcome``)
and the one place a strategy is built (``strategy.build_strategy``)."""
