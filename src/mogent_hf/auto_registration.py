"""A post-import hook, so that `import mogent_hf` can register its classes with transformers and diffusers without
importing them up front.

`import mogent_hf` has always made `AutoConfig`, `AutoModel`, `AutoImageProcessor` and diffusers' generic
`DiffusionPipeline.from_pretrained` know our classes. Registering needs the classes, and the classes need torch,
transformers and diffusers: seconds of imports that the `mogent-hf` command must not pay before it has checked its
arguments. So the package registers at once only when transformers or diffusers is already imported, and otherwise
leaves this hook (as `wrapt.register_post_import_hook` does): the first import of either library, wherever it
happens, ends by registering. Whoever can use a registration has imported one of the two first."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable

WATCHED = ("transformers", "diffusers")


class PostImportHook(importlib.abc.MetaPathFinder):
    """A meta path finder that lets the usual finders find `WATCHED` modules, then runs `callback` right after such a
    module has executed (and is complete in `sys.modules`)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in WATCHED:
            return None
        sys.meta_path.remove(self)  # the usual finders find the real spec; this hook has done its work
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module, callback = spec.loader.exec_module, self.callback

        def exec_then_register(module) -> None:
            exec_module(module)  # transformers and diffusers end by putting their lazy module in sys.modules
            callback()

        spec.loader.exec_module = exec_then_register
        return spec


def register_when_imported(register: Callable[[], None]) -> None:
    """Runs `register` now if transformers or diffusers is imported already, else after the first import of
    either."""
    if any(name in sys.modules for name in WATCHED):
        register()
        return

    def unhook_and_register() -> None:
        if hook in sys.meta_path:
            sys.meta_path.remove(hook)
        register()

    hook = PostImportHook(unhook_and_register)
    sys.meta_path.insert(0, hook)
