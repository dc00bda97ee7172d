"""``python -m qa.training reader [...]``: the reader's training command (``cli.main``);
``python -m qa.training compile [...]``: its export again, without training
(``cli.compile_main``); ``python -m qa.training verifier [...]``: the verifier's
(``verifier.main``)."""

import sys

if sys.argv[1:2] == ["verifier"]:
    from .verifier import main as fit_verifier

    sys.exit(fit_verifier(sys.argv[2:]))

if sys.argv[1:2] == ["compile"]:
    from .cli import compile_main

    sys.exit(compile_main(sys.argv[2:]))

from .cli import main

sys.exit(main())
