"""The web chat and the REST API: ``layout`` (the Gradio blocks), ``callbacks`` (what each
event does), ``render`` (answers and documents as HTML), ``watch`` (the folder watcher),
``server`` (``serve``/``launch``), ``feedback`` (thumbs up/down lines), ``api`` (the REST API
under /api/), ``access`` (users, API keys, limits and the API's gate) and ``assets/`` (CSS, JS).
"""
