"""The pipeline: the stages one question passes through, each taking and returning the values
of ``qa.values`` and none importing another: ``retrieve`` (passages), ``read`` (the reader's
spans), ``extract`` (sentences), ``scope`` (words no source mentions), ``policy`` (abstain or
ask back). Helpers they share: ``query`` (what a question's words say), ``focus`` (the phrase
of the kind asked for), ``conversation`` (follow-ups).
"""
