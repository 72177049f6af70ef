"""Multi-fidelity Bayesian optimization for the self-driving lab (BoTorch, no bluesky/ophyd).

```python
from optimizers import SearchSpace, make_strategy
space = SearchSpace(parameters, fidelities, objective)
strategy = make_strategy("multi_fidelity", space, seed=0)
suggestions = strategy.recommend(history, pending=pending, budget_left=120.0, q=1)
best = strategy.recommendation(history)
```
"""

from optimizers.space import SearchSpace, molecule_descriptors
from optimizers.strategies import (
    STRATEGIES,
    MultiFidelityStrategy,
    RandomStrategy,
    SingleFidelityStrategy,
    SobolStrategy,
    Strategy,
    make_strategy,
)
from optimizers.suggestion import Recommendation, Suggestion

__all__ = [
    "STRATEGIES",
    "MultiFidelityStrategy",
    "RandomStrategy",
    "Recommendation",
    "SearchSpace",
    "SingleFidelityStrategy",
    "SobolStrategy",
    "Strategy",
    "Suggestion",
    "make_strategy",
    "molecule_descriptors",
]
