"""The layers of the code base (docs/architecture.md), read from the imports: every import goes down or sideways
within a layer, and no project modules import each other in a circle."""
import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]

# Module or package -> layer; the longest matching prefix decides.
LAYERS = {
    "core": 1,
    "readers": 2, "models": 2,
    "inference": 3,
    "serving": 4, "monitoring": 4, "reports": 4,
    "components": 5,
    "pipelines": 6,
    "pipelines.local_runner": 7, "pipelines.kubeflow_v2_runner": 7, "pipelines.concurrent_runner": 7,
    "pipelines.beam_tuning": 7, "pipelines.memory": 7,
    "cli": 8,
}
PACKAGES = sorted({name.split(".")[0] for name in LAYERS})


def layer_of(module: str) -> int:
  parts = module.split(".")
  for depth in range(len(parts), 0, -1):
    if ".".join(parts[:depth]) in LAYERS:
      return LAYERS[".".join(parts[:depth])]
  raise KeyError(module)


def project_modules():
  """Dotted name -> path of every source module of the layered packages."""
  modules = {}
  for package in PACKAGES:
    for path in sorted((REPO / package).glob("*.py")):
      name = package if path.stem == "__init__" else f"{package}.{path.stem}"
      modules[name] = path
  return modules


def imports_of(path: pathlib.Path, modules) -> set:
  """The project modules `path` imports anywhere in it (top level or inside a function)."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
    names = []
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    found.update(n for n in names if n in modules)
  return found


def import_graph():
  modules = project_modules()
  return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def test_every_module_of_the_layered_packages_has_a_layer():
  modules = project_modules()
  assert len(modules) > 50
  for name in modules:
    layer_of(name)  # raises KeyError for a package missing from LAYERS


def test_no_import_runs_up_a_layer():
  upward = [f"{source} (layer {layer_of(source)}) imports {target} (layer {layer_of(target)})"
            for source, targets in import_graph().items() for target in sorted(targets)
            if layer_of(target) > layer_of(source)]
  assert not upward, "\n".join(upward)


def test_no_modules_import_each_other_in_a_circle():
  graph = import_graph()
  # Package __init__ files only import `core`; a package's modules importing their own package is not a cycle.
  graph = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}
  visiting, done, cycles = set(), set(), []

  def visit(node, path):
    visiting.add(node)
    for target in sorted(graph[node]):
      if target in visiting:
        cycles.append(" -> ".join(path[path.index(target):] + [target]))
      elif target not in done:
        visit(target, path + [target])
    visiting.discard(node)
    done.add(node)

  for node in sorted(graph):
    if node not in done:
      visit(node, [node])
  assert not cycles, "\n".join(cycles)


def test_the_layer_check_sees_an_upward_import(tmp_path, monkeypatch):
  """The check itself: a models/ module importing the command line is reported."""
  bad = tmp_path / "models"
  bad.mkdir()
  (bad / "bad.py").write_text("def f():\n  from cli import main\n")
  modules = {"models.bad": bad / "bad.py", "cli.main": REPO / "cli" / "main.py"}
  assert imports_of(bad / "bad.py", modules) == {"cli.main"}
  assert layer_of("cli.main") > layer_of("models.bad")
