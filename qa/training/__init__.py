"""Training qa's reader (``python -m qa.training reader``). The runtime never imports this
package; eval imports its SQuAD loaders, never the other way round.
"""
