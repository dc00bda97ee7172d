"""The models qa runs: the sentence embedder (``embedder``, with its checked ONNX export in
``onnx_encoder``) and the extractive reader (``reader``: the ONNX session and how a
question-window pair is encoded and decoded). The reader's files lie beside them. ``cache``
keeps what qa makes once to start faster (the encoder's export, the word-frequency table)
recorded by SHA-256 and verified before use.
"""
