"""The robot fidelity on a bluesky-queueserver RE Manager (the instrument may live on another host).

``client`` runs one robot attempt as a queue item, ``feed`` routes the run's documents
back from the 0MQ proxy, ``manager`` starts RE Manager and the proxy on this machine
(``python -m controller.execution.queueserver serve``).
"""
