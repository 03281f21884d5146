"""Code that travels with a saved model or pipeline, so that it loads where mogent_hf is not installed:
`AutoModel.from_pretrained(id, trust_remote_code=True)` (transformers) and
`DiffusionPipeline.from_pretrained(id, trust_remote_code=True)` (diffusers).

Each class that must load is written as ONE self-contained file, `bundle(module)`: that module and the package
modules it imports, in dependency order, with the package's imports of itself removed. One file each, because
diffusers fetches only `{component}/{module}.py` of a custom component and copies only the direct relative imports
of a local file, and transformers' remote code resolves a module at the repo root even with `subfolder=`.

What a repo gets (`write_model_code`, `write_pipeline_code`):
- a model folder: `configuration_<x>.py`, `modeling_<x>.py` and `auto_map` in `config.json` (AutoConfig, AutoModel);
  an image processor saved there (`preprocessor_config.json` naming a mogent_hf class) adds its module and
  `AutoImageProcessor` (see MODEL_CODE);
- a pipeline: the model folder's files (also at the root), each component's module in its folder, the pipeline's
  module at the root, and `model_index.json` entries naming those files (`["modeling_mogent", "MOGENTModel"]`);
  `_mogent_hf_modules` maps them back to the package, so that the installed classes load such a repo as their own.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
from pathlib import Path

PACKAGE = "mogent_hf"
# A saved model folder's code: auto class → (the config file that gets its `auto_map` entry, where the class is).
# "config"/"model" are the model's config and model classes; an image processor saved in the folder (its
# `preprocessor_config.json` names a mogent_hf class in `image_processor_type`) is found through that file.
MODEL_CODE = {
    "AutoConfig": ("config.json", "config"),
    "AutoModel": ("config.json", "model"),
    "AutoImageProcessor": ("preprocessor_config.json", "image_processor_type"),
}


def _is_internal(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def _imports_of(module_name: str, node: ast.ImportFrom | ast.Import) -> list[str] | None:
    """The package modules that define the names an import statement takes from the package; None for an
    import of another library. Raises on forms a bundle cannot keep (module objects, renames)."""
    if isinstance(node, ast.Import):
        if any(_is_internal(alias.name) for alias in node.names):
            raise ValueError(f"{module_name}: `import {node.names[0].name}` cannot be bundled; use `from … import`")
        return None
    package = module_name if _source(module_name).name == "__init__.py" else module_name.rpartition(".")[0]
    source = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level else node.module
    if not _is_internal(source):
        return None
    targets = []
    for alias in node.names:
        if alias.asname not in (None, alias.name):
            raise ValueError(f"{module_name}: `from {source} import {alias.name} as {alias.asname}` cannot be bundled")
        value = getattr(importlib.import_module(source), alias.name)
        if inspect.ismodule(value):
            raise ValueError(f"{module_name}: `from {source} import {alias.name}` imports a module; import names")
        defined_in = getattr(value, "__module__", source) if inspect.isclass(value) or callable(value) else source
        if not _is_internal(defined_in) and alias.name in _assigned_names(source):
            defined_in = source  # a package module's own binding of an outside object (`x = library_factory()`)
        if not _is_internal(defined_in) or _source(defined_in).name == "__init__.py":
            raise ValueError(f"{module_name}: {alias.name} from {source} is not defined in a module of {PACKAGE}")
        targets.append(defined_in)
    return targets


def _names_bound_by(node: ast.stmt) -> set[str]:
    """The names an assignment statement binds (none for any other statement)."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return {name.id for target in targets for name in ast.walk(target) if isinstance(name, ast.Name)}


def _assigned_names(module_name: str) -> set[str]:
    """Names a module binds by a top-level assignment."""
    return set().union(*map(_names_bound_by, ast.parse(_source(module_name).read_text()).body))


def _source(module_name: str) -> Path:
    return Path(importlib.util.find_spec(module_name).origin)


def _dependency_order(module_name: str, order: list[str] | None = None, visiting: tuple = ()) -> list[str]:
    """`module_name` and the package modules it imports (recursively), each after the modules it needs."""
    order = [] if order is None else order
    if module_name in order:
        return order
    if module_name in visiting:
        raise ValueError(f"circular imports between {' → '.join((*visiting, module_name))}")
    tree = ast.parse(_source(module_name).read_text())
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in _imports_of(module_name, node) or ():
                _dependency_order(target, order, (*visiting, module_name))
    order.append(module_name)
    return order


def _module_body(module_name: str) -> tuple[str, set[str], bool]:
    """The module's source without its docstring, `__all__`, `from __future__` imports and its top-level imports of
    the package; a nested import of the package (an optional feature that needs it installed) becomes a raise.
    Returns (body, top-level names it defines, whether it had `from __future__ import annotations`)."""
    text = _source(module_name).read_text()
    lines, tree = text.splitlines(), ast.parse(text)
    drop, replace, defined, future = set(), {}, set(), False
    for index, node in enumerate(tree.body):
        span = range(node.lineno - 1, node.end_lineno)
        is_docstring = index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        is_all = isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            future, drop = True, drop | set(span)
        elif (
            is_docstring
            or is_all
            or (isinstance(node, (ast.Import, ast.ImportFrom)) and _imports_of(module_name, node))
        ):
            drop |= set(span)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            defined |= _names_bound_by(node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            internal = any(_is_internal(alias.name) for alias in node.names)
        else:
            internal = isinstance(node, ast.ImportFrom) and (node.level > 0 or _is_internal(node.module or ""))
        if internal and node.col_offset > 0:
            indent = " " * node.col_offset
            replace[node.lineno - 1] = f'{indent}raise ImportError("this needs the {PACKAGE} package installed")'
            drop |= set(range(node.lineno, node.end_lineno))
    kept = [replace.get(i, line) for i, line in enumerate(lines) if i not in drop or i in replace]
    return "\n".join(kept).strip("\n"), defined, future


def bundle(module_name: str) -> str:
    """One self-contained Python file: `module_name` and every package module it needs, in dependency order,
    without the package's imports of itself. Raises if two of them define the same top-level name."""
    from mogent_hf import __version__

    modules = _dependency_order(module_name)
    owners, parts, future = {}, [], False
    for name in modules:
        body, defined, has_future = _module_body(name)
        for clash in sorted(defined & owners.keys()):
            raise ValueError(f"bundling {module_name}: {clash!r} is defined in both {owners[clash]} and {name}")
        owners.update(dict.fromkeys(defined, name))
        future |= has_future
        parts.append(f"# ---- {name} ----\n{body}\n")
    header = (
        f'"""{module_name} of {PACKAGE} {__version__}, self-contained for `trust_remote_code` loading; bundled by '
        f'{PACKAGE}.remote_code from:\n{", ".join(modules)}.\nGenerated: edit the package, not this file."""\n'
    )
    source = header + ("\nfrom __future__ import annotations\n" if future else "") + "\n\n" + "\n\n".join(parts)
    compile(source, f"<bundle of {module_name}>", "exec")
    return source


def _write_bundle(cls: type, folder: Path) -> str:
    """Writes `bundle(cls.__module__)` into `folder/<module stem>.py`; returns the `auto_map`-style "stem.Class"."""
    stem = cls.__module__.rpartition(".")[2]
    (folder / f"{stem}.py").write_text(bundle(cls.__module__))
    return f"{stem}.{cls.__name__}"


def _update_json(path: Path, **entries) -> None:
    content = json.loads(path.read_text())
    content.update(entries)
    path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


def write_model_code(model, folder: str | Path) -> list[str]:
    """Adds the code of a model saved in `folder` (`model.save_pretrained(folder)`): configuration, modeling and,
    when present, image-processing files, with their `auto_map` entries. Returns the files written."""
    import mogent_hf

    folder = Path(folder)
    classes = {"config": model.config_class, "model": type(model)}
    auto_maps, written = {}, []
    for auto_class, (config_file, role) in MODEL_CODE.items():
        if role in classes:
            cls = classes[role]
        elif (folder / config_file).exists():
            cls = getattr(mogent_hf, json.loads((folder / config_file).read_text()).get(role, ""), None)
            if cls is None:
                continue
        else:
            continue
        reference = _write_bundle(cls, folder)
        auto_maps.setdefault(config_file, {})[auto_class] = reference
        written.append(reference.partition(".")[0] + ".py")
    for config_file, auto_map in auto_maps.items():
        _update_json(folder / config_file, auto_map=auto_map)
    return sorted(set(written))


def write_pipeline_code(pipeline, folder: str | Path) -> list[str]:
    """Adds the code of a pipeline saved in `folder` (`pipeline.save_pretrained(folder)`): the model folder's files
    (also at the root, where transformers looks for them), each other mogent_hf component's module in its folder,
    the pipeline's module at the root; `model_index.json` names them. Returns the files written."""
    folder = Path(folder)
    index, written, modules = {}, [], {}
    for name, component in pipeline.components.items():
        if component is None or not _is_internal(type(component).__module__):
            continue
        if hasattr(component, "config_class"):  # a transformers model: its folder, and the root
            files = write_model_code(component, folder / name)
            written += [f"{name}/{file}" for file in files]
            for file in files:
                (folder / file).write_text((folder / name / file).read_text())
                written.append(file)
        else:
            written.append(f"{name}/{_write_bundle(type(component), folder / name).partition('.')[0]}.py")
        stem = type(component).__module__.rpartition(".")[2]
        index[name], modules[stem] = [stem, type(component).__name__], type(component).__module__
    reference = _write_bundle(type(pipeline), folder)
    stem = reference.partition(".")[0]
    modules[stem] = type(pipeline).__module__
    written.append(f"{stem}.py")
    # CODE_MODULES of pipelines/pipeline_utils.py, which reads it back (the library module cannot import it)
    _update_json(folder / "model_index.json", _class_name=[stem, type(pipeline).__name__], _mogent_hf_modules=modules,
                 **index)  # fmt: skip
    return sorted(set(written))
