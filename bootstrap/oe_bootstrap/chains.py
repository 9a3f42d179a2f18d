"""Reads and sets the ``python_home`` of every Python Processor node in a saved signal chain.

Handles the GUI 1.0 layout (API 9/10, PROCESSOR_PARAMETERS) and the GUI 0.6 one (API 8, GLOBAL_PARAMETERS).
"""
import re
import xml.etree.ElementTree as ET
from typing import List, NamedTuple, Optional, Tuple

from . import PLUGIN_NAME
from .atomic import write_atomic

PYTHON_HOME = "python_home"
SCRIPT_PATH = "script_path"
PARAMETER_ELEMENTS = ("PROCESSOR_PARAMETERS", "GLOBAL_PARAMETERS")
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
# Whatever may precede the root element: declaration, comments, processing instructions, doctype.
PROLOG = re.compile(rb"(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)*", re.DOTALL)
XML_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?<\?xml\s.*?\?>", re.DOTALL)


class ChainError(Exception):
    """A chain file we cannot read; ``line`` and ``column`` (1-based) locate malformed XML."""

    def __init__(self, message: str, path: str, line: Optional[int] = None, column: Optional[int] = None):
        super().__init__(message)
        self.path, self.line, self.column = path, line, column


class ChainNode(NamedTuple):
    node_id: Optional[int]
    python_home: Optional[str]
    script_path: Optional[str]


class NodeChange(NamedTuple):
    node_id: Optional[int]
    old_python_home: Optional[str]  # None: the node had no python_home yet


class ChainEdit(NamedTuple):
    path: str
    python_processors: int  # Python Processor nodes found
    changes: List[NodeChange]  # the nodes whose python_home was set; empty: nothing was written
    backup: Optional[str]

    @property
    def changed(self) -> int:
        return len(self.changes)


class _Document(NamedTuple):
    root: ET.Element
    prolog: bytes  # kept verbatim: the tree does not hold what surrounds the root element
    epilog: bytes


def python_homes_in_chain(path: str) -> List[ChainNode]:
    """Every Python Processor node of the chain, in file order."""
    nodes = []
    for processor in python_processor_nodes(_read(path).root):
        parameters = _parameters_element(processor)
        values = parameters.attrib if parameters is not None else {}
        nodes.append(ChainNode(_node_id(processor), values.get(PYTHON_HOME), values.get(SCRIPT_PATH)))
    return nodes


def set_python_home_in_chain(path: str, python_home: str) -> ChainEdit:
    """Set ``python_home`` on every Python Processor node; the file is rewritten only if one changes.

    Set it in lastConfig.xml and recoveryConfig.xml alike: the GUI compares their first SIGNALCHAIN
    (attribute order included) at start and asks about a crash when they differ.
    """
    document = _read(path)
    processors = python_processor_nodes(document.root)
    api = chain_api_version(document.root)
    changes = []
    for processor in processors:
        parameters = _parameters_element(processor)
        old = parameters.get(PYTHON_HOME) if parameters is not None else None
        if old == python_home:
            continue
        if parameters is None:
            parameters = _add_parameters_element(processor, api)
        parameters.set(PYTHON_HOME, python_home)
        changes.append(NodeChange(_node_id(processor), old))
    backup = write_atomic(path, _serialize(document)) if changes else None
    return ChainEdit(path, len(processors), changes, backup)


def python_processor_nodes(root: ET.Element) -> List[ET.Element]:
    """PROCESSOR elements of every SIGNALCHAIN whose plugin is the Python Processor."""
    return [processor for chain in root.findall("SIGNALCHAIN") for processor in chain.findall("PROCESSOR")
            if PLUGIN_NAME in (processor.get("pluginName"), processor.get("libraryName"))]


def chain_api_version(root: ET.Element) -> int:
    """The Plugin API the chain was saved with: INFO/PLUGIN_API_VERSION, else guessed from the GUI version."""
    api = (root.findtext("INFO/PLUGIN_API_VERSION") or "").strip()
    if api.isdigit():
        return int(api)
    version = (root.findtext("INFO/VERSION") or "").strip()
    return 8 if version.startswith("0.") else 10


def _read(path: str) -> _Document:
    with open(path, "rb") as stream:
        data = stream.read()
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True, insert_pis=True))
    try:
        parser.feed(data)
        root = parser.close()
    except ET.ParseError as error:
        line, column = error.position
        raise ChainError("%s is not valid XML: %s (line %d, column %d)"
                         % (path, _reason(error), line, column + 1), path, line, column + 1) from error
    if root.tag != "SETTINGS":
        raise ChainError("%s is not an Open Ephys signal chain (its root element is <%s>, not <SETTINGS>)"
                         % (path, root.tag), path)
    prolog, epilog = _surroundings(data, root.tag)
    return _Document(root, prolog, epilog)


def _reason(error: ET.ParseError) -> str:
    # expat's message ends with its own 0-based position; we report a 1-based one instead
    return re.sub(r":\s*line \d+, column \d+$", "", str(error))


def _surroundings(data: bytes, tag: str) -> Tuple[bytes, bytes]:
    """What precedes the root element (with a UTF-8 declaration) and what follows it."""
    prolog = PROLOG.match(data).group(0)
    declaration = XML_DECLARATION.match(prolog)
    if declaration is None:
        prolog = DECLARATION + b"\n" + prolog.lstrip(b"\xef\xbb\xbf")
    elif not re.search(rb"encoding=[\"']utf-8[\"']", declaration.group(0), re.IGNORECASE):
        # the file is written back as UTF-8, so its declaration must say so
        prolog = DECLARATION + prolog[declaration.end():]
    end_tag = ("</%s" % tag).encode("ascii")
    close = data.rfind(end_tag)
    if close < 0:  # a self-closing root: keep only the trailing whitespace
        return prolog, data[len(data.rstrip()):]
    return prolog, data[data.index(b">", close) + 1:]


def _serialize(document: _Document) -> bytes:
    body = ET.tostring(document.root, encoding="unicode").encode("utf-8")
    return document.prolog + body + document.epilog


def _parameters_element(processor: ET.Element) -> Optional[ET.Element]:
    """The element holding the processor-wide parameters, preferring the one that names python_home."""
    candidates = [child for child in processor if child.tag in PARAMETER_ELEMENTS]
    for candidate in candidates:
        if PYTHON_HOME in candidate.attrib:
            return candidate
    return candidates[0] if candidates else None


def _add_parameters_element(processor: ET.Element, api: int) -> ET.Element:
    """A new parameters element where the GUI puts it (first child), indented like the next one."""
    element = ET.Element("PROCESSOR_PARAMETERS" if api >= 9 else "GLOBAL_PARAMETERS")
    element.tail = processor.text
    processor.insert(0, element)
    return element


def _node_id(processor: ET.Element) -> Optional[int]:
    node_id = processor.get("nodeId", "")
    return int(node_id) if node_id.strip().isdigit() else None
