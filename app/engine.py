# PLACEHOLDER written by the lead so the rest of the app can be tested; the suggestions
# engineer owns this file and replaces it entirely.
from __future__ import annotations

from flask import Flask, current_app


class Engine:
    def status(self) -> dict:
        return {"model": "disabled", "embeddings": "missing: not built yet", "ready": False}

    def suggest_for_ke(self, ke_id: str, k: int = 10) -> list:
        return []

    def suggest_for_text(self, text: str, k: int = 10) -> list:
        return []


def init_app(app: Flask) -> None:
    app.extensions["kewp_engine"] = Engine()


def get_engine() -> Engine:
    return current_app.extensions["kewp_engine"]
