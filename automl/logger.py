"""The library logger. Library code logs; only the CLI decides how it is shown."""

import logging

log = logging.getLogger("automl")
