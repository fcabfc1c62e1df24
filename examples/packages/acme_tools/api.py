# Services inside a package: listed in service-sources.txt by dotted module name (acme_tools.api).
from zato.server.service import Service

from acme_tools.text import shout


class Shout(Service):
    name = "acme.shout"

    class SimpleIO:
        input_required = ("text",)
        output_required = ("text",)

    def handle(self):
        self.response.payload.text = shout(self.request.input.text)
