import sys

from optuna_eahas.cli import main

sys.exit(main())
