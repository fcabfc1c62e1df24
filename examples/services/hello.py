# A Zato service as the Zato docs write them (SimpleIO, self.request.input, self.response.payload).
from zato.server.service import Service


class Hello(Service):
    name = "demo.hello"

    class SimpleIO:
        input_required = ("name",)
        input_optional = ("greeting",)
        output_required = ("message",)

    def handle(self):
        greeting = self.request.input.greeting or "Hello"
        self.logger.info("demo.hello called for %s", self.request.input.name)
        self.response.payload.message = f"{greeting}, {self.request.input.name}!"


class HelloTwice(Service):
    """Named from the module and the class: hello.hello-twice; calls demo.hello with self.invoke."""

    class SimpleIO:
        input_required = ("name",)
        output_required = ("messages",)

    def handle(self):
        one = self.invoke("demo.hello", {"name": self.request.input.name})
        self.response.payload.messages = [one["message"], one["message"]]
