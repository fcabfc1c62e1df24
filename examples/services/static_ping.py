# A flat module installed statically (service-sources.txt), answering like /zato/ping does.
from zato.server.service import Service


class StaticPing(Service):
    name = "demo.static-ping"

    def handle(self):
        self.response.payload = {"pong": "ZATO_OK", "server": self.server_name}
