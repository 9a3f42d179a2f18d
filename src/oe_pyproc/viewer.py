"""`oe-pyproc view`: what modules publish (docs/live.md), plotted live in the browser by a Bokeh server.

Each browser page is its own Bokeh session with its own ring readers, so a page opened late still
shows what the rings hold, and a closed page costs the instances nothing: the viewer only reads.
"""
from __future__ import annotations

import html
import ipaddress
import json
import logging
import os
import signal
import socket
import threading
import webbrowser
from typing import Callable, Dict, List, Optional

import numpy as np
from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.core.properties import field
from bokeh.layouts import column, row
from bokeh.models import (ColorBar, ColumnDataSource, DataRange1d, Div, HoverTool, Legend, LegendItem,
                          LinearColorMapper)
from bokeh.palettes import Viridis256
from bokeh.plotting import figure
from bokeh.server.server import Server
from bokeh.transform import factor_cmap
from tornado.ioloop import IOLoop

from oe_bootstrap.atomic import write_atomic
from oe_pyproc import live

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 5077
WINDOW_SECONDS = 30.0   # what a strip chart keeps
MAX_POINTS = 100_000    # and never more points than this, however often a module publishes
UPDATE_MS = 33          # screen rate
SCAN_EVERY = 15         # updates between looks for new or ended instances (about 0.5 s)
DIRECTIONS = list(live.DIRECTIONS)
DIRECTION_COLOURS = ["#2ca02c", "#d62728"]
ENDED = " (ended)"


class ViewerError(RuntimeError):
    pass


# --- the page ---

def empty_columns(*names: str) -> Dict[str, np.ndarray]:
    return {name: np.array([], dtype=object if name in ("direction", "state") else float) for name in names}


def stream_window(source: ColumnDataSource, new: Dict[str, np.ndarray]) -> None:
    """Appends `new`, keeping the points of the last WINDOW_SECONDS (by column "t") and at most MAX_POINTS.

    Events are stamped by their own sample, so their times are only nearly in order: counting the
    points inside the window (instead of searching sorted times) keeps about the right ones.
    """
    times = np.concatenate([source.data["t"], new["t"]])
    keep = int(np.count_nonzero(times >= times.max() - WINDOW_SECONDS))
    source.stream(new, rollover=max(1, min(keep, MAX_POINTS)))


class EventMarks:
    """An instance's TTL events, one source, marked on every strip chart of the instance."""

    def __init__(self, key: str):
        self.source = ColumnDataSource(empty_columns("t", "sample_number", "line", "state", "direction"),
                                       name=f"{key}/events")

    def add(self, frames: list, rate: float) -> None:
        if frames:
            samples = np.array([frame.sample_number for frame in frames], dtype=float)
            stream_window(self.source, {
                "t": samples / rate, "sample_number": samples,
                "line": np.array([frame.line for frame in frames], dtype=float),
                "state": np.array(["on" if frame.state else "off" for frame in frames], dtype=object),
                "direction": np.array([frame.direction for frame in frames], dtype=object)})

    def clear(self) -> None:
        self.source.data = empty_columns(*self.source.data)

    def mark(self, plot) -> None:
        spans = plot.vspan(x="t", source=self.source, line_width=1.5, line_alpha=0.7,
                           line_color=factor_cmap("direction", DIRECTION_COLOURS, DIRECTIONS))
        plot.add_tools(HoverTool(renderers=[spans], tooltips=[("TTL line", "@line{0}"), ("state", "@state"),
                                                               ("", "@direction"), ("at", "@t{0.000} s")]))
        # Beside the chart, not over the newest data; one entry per direction present.
        legend = Legend(items=[LegendItem(label=field("direction"), renderers=[spans])], location="top_left",
                        label_text_font_size="8pt", title="TTL", title_text_font_size="8pt")
        plot.add_layout(legend, "right")


class StripChart:
    """A scalar over time, the last WINDOW_SECONDS."""

    def __init__(self, key: str, name: str, x_range: DataRange1d, events: EventMarks):
        self.source = ColumnDataSource(empty_columns("t", "sample_number", "value"), name=f"{key}/{name}")
        self.figure = figure(title=name, height=180, sizing_mode="stretch_width", x_range=x_range,
                             x_axis_label="seconds", tools="xpan,xwheel_zoom,reset,save")
        line = self.figure.line("t", "value", source=self.source, line_width=1.5)
        self.figure.add_tools(HoverTool(renderers=[line], tooltips=[("t", "@t{0.000} s"), (name, "@value")],
                                        mode="vline"))
        events.mark(self.figure)

    def add(self, frames: list, rate: float) -> None:
        samples = np.array([frame.sample_number for frame in frames], dtype=float)
        stream_window(self.source, {"t": samples / rate, "sample_number": samples,
                                    "value": np.array([frame.value for frame in frames], dtype=float)})

    def clear(self) -> None:
        self.source.data = empty_columns(*self.source.data)


class Curve:
    """A 1-D array: the latest one replaces the line."""

    def __init__(self, key: str, name: str):
        self.source = ColumnDataSource({"x": [], "y": []}, name=f"{key}/{name}")
        self.figure = figure(title=name, height=260, sizing_mode="stretch_width", tools="pan,wheel_zoom,reset,save")
        self.figure.line("x", "y", source=self.source, line_width=1.5)

    def add(self, frames: list, rate: float) -> None:
        latest = frames[-1]
        x = latest.x if latest.x is not None else np.arange(len(latest.value), dtype=np.float32)
        self.source.data = {"x": x, "y": latest.value}


class Image:
    """A 2-D array (image: a palette, row 0 at the bottom) or an RGBA picture (row 0 at the top)."""

    def __init__(self, key: str, name: str, picture: bool):
        self.picture = picture
        self.source = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []}, name=f"{key}/{name}")
        self.figure = figure(title=name, width=480, height=360, match_aspect=picture,
                             tools="pan,wheel_zoom,reset,save")
        self.figure.grid.visible = False
        self.figure.x_range.range_padding = self.figure.y_range.range_padding = 0
        glyph = dict(image="image", x="x", y="y", dw="dw", dh="dh", source=self.source)
        if picture:
            self.figure.image_rgba(**glyph)
        else:
            mapper = LinearColorMapper(palette=Viridis256)
            self.figure.image(color_mapper=mapper, **glyph)
            self.figure.add_layout(ColorBar(color_mapper=mapper, width=10), "right")

    def add(self, frames: list, rate: float) -> None:
        value = frames[-1].value
        if self.picture:
            # image_rgba wants one uint32 per pixel and draws row 0 at the bottom; a picture's row 0 is its top.
            value = np.ascontiguousarray(value[::-1]).view(np.uint32).reshape(value.shape[:2])
        height, width = value.shape[:2]
        self.source.data = {"image": [value], "x": [0], "y": [0], "dw": [width], "dh": [height]}


KEEP_ENDED = 8  # ended instances a page keeps showing


class InstanceView:
    """One instance's section: a title, then a figure per published name in the order they first came."""

    def __init__(self, instance):
        self.instance = instance
        self.reader = instance.reader("oldest")  # a page opened late still shows what the ring holds
        self.charts: Dict[str, object] = {}
        self.events = EventMarks(instance.key)
        self.x_range = DataRange1d(follow="end", follow_interval=WINDOW_SECONDS, range_padding=0)
        self.last_stamp = -1
        self.ended = False
        self.lost = 0
        self.title = Div(text=self.title_html())
        # Charts over time and curves take the width; images and pictures go side by side below them.
        self.wide = column(sizing_mode="stretch_width")
        self.images = row(styles={"flex-wrap": "wrap"}, sizing_mode="stretch_width")
        self.layout = column(self.title, self.wide, self.images, sizing_mode="stretch_width")

    def title_html(self) -> str:
        instance = self.instance
        text = f"<h3>{html.escape(instance.label)} &mdash; {html.escape(instance.program)}, pid {instance.pid}"
        text += ENDED if self.ended else ""
        text += f" <small>({self.lost} frames lost: the page fell behind)</small>" if self.lost else ""
        return text + "</h3>"

    @property
    def rate(self) -> float:
        return self.instance.sample_rate or 1.0  # 0 until the engine has described the instance

    def update(self) -> None:
        title = self.title_html()  # the host describes the instance just after creating it
        if title != self.title.text:
            self.title.text = title
        frames = self.reader.read()
        start = 0
        for index, frame in enumerate(frames):
            if frame.kind == "event":
                continue
            if frame.sample_number < self.last_stamp:  # a new acquisition: sample numbers start over
                self.show(frames[start:index])
                self.restart()
                start = index
            self.last_stamp = frame.sample_number
        self.show(frames[start:])
        self.lost = self.reader.lost

    def show(self, frames: list) -> None:
        # Events first: a page reading between two streamed messages never sees a value without the
        # events that came before it.
        self.events.add([frame for frame in frames if frame.kind == "event"], self.rate)
        by_name: Dict[str, list] = {}
        for frame in frames:
            if frame.kind != "event":
                by_name.setdefault(frame.name, []).append(frame)
        for name, named in by_name.items():
            chart = self.charts.get(name) or self.add_chart(name, named[0].kind)
            if chart is not None:
                chart.add(named, self.rate)

    def add_chart(self, name: str, kind: str):
        key = self.instance.key
        makers = {"scalar": lambda: StripChart(key, name, self.x_range, self.events),
                  "curve": lambda: Curve(key, name),
                  "image": lambda: Image(key, name, picture=False),
                  "picture": lambda: Image(key, name, picture=True)}
        if kind not in makers:  # a kind from a newer engine: leave it out rather than fail the page
            return None
        chart = self.charts[name] = makers[kind]()
        (self.images if isinstance(chart, Image) else self.wide).children.append(chart.figure)
        return chart

    def restart(self) -> None:
        for chart in self.charts.values():
            if isinstance(chart, StripChart):
                chart.clear()
        self.events.clear()

    def end(self) -> None:
        self.update()  # what it published last
        self.ended = True
        self.title.text = self.title_html()
        self.instance.close()  # its plots keep their data; the ring is no longer needed


class Page:
    """One browser session: a section per instance, updated at screen rate."""

    def __init__(self, document):
        self.document = document
        self.views: Dict[str, InstanceView] = {}
        self.waiting = Div(text="<p><i>waiting for instances&hellip;</i> (a module appears here once it runs "
                                "in the Open Ephys GUI or in pyproc-host on this machine)</p>")
        self.root = column(self.waiting, sizing_mode="stretch_width")
        self.ticks = 0
        document.title = "oe-pyproc live"
        document.add_root(self.root)
        document.on_session_destroyed(lambda context: self.close())
        self.scan()
        document.add_periodic_callback(self.tick, UPDATE_MS)

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks % SCAN_EVERY == 0:
            self.scan()
        for view in self.views.values():
            if not view.ended:
                view.update()

    def close(self) -> None:
        """The page was closed: its rings' mappings go now, not when Python collects the page."""
        for view in self.views.values():
            if not view.ended:
                view.instance.close()

    def forget_old_ended(self) -> None:
        """Keeps the last KEEP_ENDED ended sections: a GUI rebuilds its instance on every script or stream
        change, and a page open all day would otherwise grow without end."""
        ended = [key for key, view in self.views.items() if view.ended]
        for key in ended[:max(0, len(ended) - KEEP_ENDED)]:
            self.root.children.remove(self.views.pop(key).layout)

    def scan(self) -> None:
        for instance in live.instances():
            if instance.key in self.views:
                instance.close()  # a second mapping of one already shown
                continue
            view = self.views[instance.key] = InstanceView(instance)
            self.root.children.append(view.layout)
        for view in self.views.values():
            if not view.ended and not view.instance.alive:
                view.end()
        self.forget_old_ended()
        self.waiting.visible = all(view.ended for view in self.views.values())


# --- the server ---

def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def is_wildcard(address: str) -> bool:
    return address in ("0.0.0.0", "::", "")


def page_host(bind: str) -> str:
    """The host part of the URL to print: a wildcard bind is reached by this machine's name."""
    host = socket.gethostname() if is_wildcard(bind) else bind
    return f"[{host}]" if ":" in host else host


def allowed_origins(bind: str, port: int) -> List[str]:
    """The pages whose scripts may open the data websocket: this viewer's own URLs, no other site's."""
    hosts = {"localhost", "127.0.0.1", page_host(bind)}
    if is_wildcard(bind):
        name = socket.gethostname()
        hosts |= {name, socket.getfqdn()}
        try:
            hosts |= {info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET)}
        except OSError:  # a host name that does not resolve: reached by the names above only
            pass
    return sorted(f"{host}:{port}" for host in hosts)


def exposure_warning(bind: str, port: int) -> Optional[str]:
    if is_loopback(bind):
        return None
    return (f"warning: --bind {bind} is not a loopback address: anyone who can reach port {port} of this "
            f"machine sees the values the modules publish (the viewer only reads them; it controls nothing)")


def write_viewer_file(url: str) -> None:
    folder = live.live_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: the rings' folder may not exist yet
    write_atomic(str(live.viewer_file()), json.dumps({"pid": os.getpid(), "url": url}).encode(), backup=False)


def remove_viewer_file() -> None:
    """Removes viewer.json if it is still ours (a second viewer may have written its own since)."""
    try:
        if json.loads(live.viewer_file().read_text()).get("pid") == os.getpid():
            live.viewer_file().unlink()
    except (OSError, ValueError, AttributeError):
        pass


def open_browser(url: str) -> None:
    # A text-mode browser (no display) would hold the caller until it quits: never the server's thread.
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()


def stop_on(signum, frame):
    raise SystemExit(0)  # unwinds out of the IO loop, through serve's cleanup


def serve(bind: str = DEFAULT_BIND, port: int = DEFAULT_PORT, open_page: bool = False,
          say: Callable[[str], None] = print) -> int:
    """Runs the viewer until SIGINT or SIGTERM; with open_page, opens a running viewer instead if there is one."""
    if open_page:
        url = live.running_viewer()
        if url and live.viewer_answers(url):  # else a killed viewer's file: its pid may be another process's now
            say(f"a viewer is already running: {url}")
            webbrowser.open(url)
            return 0
    warning = exposure_warning(bind, port)
    if warning:
        say(warning)
    # A page closed between two updates makes Bokeh warn once per update it could not send: not news.
    logging.getLogger("bokeh.server.views.ws").setLevel(logging.ERROR)
    application = Application(FunctionHandler(Page))
    loop = IOLoop.current()
    try:
        server = Server({"/": application}, io_loop=loop, address=bind or None, port=port,
                        allow_websocket_origin=allowed_origins(bind, port))
    except OSError as error:
        raise ViewerError(f"cannot listen on {bind}:{port} ({error.strerror or error}); is a viewer already "
                          f"running there? `oe-pyproc view --open` opens it, --port N picks another port") from None
    url = f"http://{page_host(bind)}:{port}/"
    server.start()
    write_viewer_file(url)
    signal.signal(signal.SIGTERM, stop_on)
    signal.signal(signal.SIGINT, stop_on)
    try:
        say(f"viewer at {url} (Ctrl+C stops it)")
        if open_page:
            open_browser(url)
        loop.start()
    finally:
        remove_viewer_file()
        server.stop()
    return 0
