"""Debian's Chromium as the browser tests and the edge benchmark launch it (no browser download)."""

CHROMIUM = "/usr/bin/chromium"
# DESIGN.md's flags; autoplay without a gesture so cold starts can be timed.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
