"""The web chat: ``layout`` (the Gradio blocks), ``callbacks`` (what each event does),
``render`` (answers and documents as HTML), ``watch`` (the folder watcher), ``server``
(``serve``/``launch``), ``feedback`` (thumbs up/down lines) and ``assets/`` (CSS, JS).
"""
