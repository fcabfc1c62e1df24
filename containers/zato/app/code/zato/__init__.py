"""The part of Zato's ``zato`` package that user services import (stand-in; see ``zato.server.service``)."""
