"""Classes with parameters and lifecycle hooks, one container serving many inputs at once,
and inputs gathered into batches.

    nano-modal run examples/classes_and_batching.py
"""

import threading
import time

import nano_modal as modal

app = modal.App("classes-and-batching")


@app.cls(scaledown_window=5)
class Tokenizer:
    lowercase: bool = modal.parameter(default=True)
    language: str = modal.parameter(default="en")

    @modal.enter()
    def load(self) -> None:
        # Runs once per container, before its first input: the place for expensive set-up.
        self.vocabulary = {"en": "english", "fr": "french"}[self.language]

    @modal.method()
    def tokenize(self, text: str) -> list[str]:
        text = text.lower() if self.lowercase else text
        return text.split()

    @modal.method()
    def describe(self) -> str:
        return f"{self.vocabulary} tokenizer (lowercase={self.lowercase})"

    @modal.exit()
    def unload(self) -> None:
        print(f"unloading {self.vocabulary}")


_running = 0  # inputs of this container in flight now; @concurrent runs them in threads
_running_lock = threading.Lock()


@app.function()
@modal.concurrent(max_inputs=10)
def wait_a_bit(i: int) -> int:
    """Returns how many inputs this container was running when this one started."""
    global _running
    with _running_lock:
        _running += 1
        at_once = _running
    time.sleep(1)
    with _running_lock:
        _running -= 1
    return at_once


@app.function()
@modal.batched(max_batch_size=16, wait_ms=100)
def embed(texts: list[str]) -> list[int]:
    print(f"embedding a batch of {len(texts)}")
    return [len(t) for t in texts]


@app.cls()
class Embedder:
    @modal.enter()
    def load(self) -> None:
        self.scale = 10  # a model would load here

    # @batched alone makes a method callable remotely, as in Modal: no @method() needed.
    @modal.batched(max_batch_size=8, wait_ms=100)
    def embed(self, texts: list[str]) -> list[int]:
        return [self.scale * len(t) for t in texts]


@app.local_entrypoint()
def main() -> None:
    print(Tokenizer().tokenize.remote("Hello Remote World"))
    french = Tokenizer(language="fr", lowercase=False)  # its own pool of containers
    print(french.describe.remote())
    print(french.tokenize.remote("Bonjour Le Monde"))

    start = time.monotonic()
    at_once = max(wait_a_bit.map(range(10)))
    seconds = time.monotonic() - start
    print(f"10 one-second inputs on one concurrent container: {seconds:.1f}s, up to {at_once} at once")

    sizes = list(embed.map(["a", "bb", "ccc"] * 10))
    print("batched results:", sizes[:6], "...", len(sizes), "in all")
    print("batched method:", list(Embedder().embed.map(["a", "bb", "ccc"])))
