"""``geoloc arena ...``: run the local game server."""

from __future__ import annotations

import time

import typer

app = typer.Typer(help="The arena: a local GeoGuessr-shaped game for the bot and for people.", no_args_is_help=True)


@app.callback()
def _main() -> None:
    """The arena: a local GeoGuessr-shaped game for the bot and for people."""


@app.command()
def serve(
    map_name: str = typer.Option("synthworld", "--map", help="'synthworld' or a manifest (four views or panoramas)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port (0 = any free port)."),
    hide_answer: bool = typer.Option(False, "--hide-answer", help="Never reveal a round's place before its guess."),
    locations: int = typer.Option(50, "--locations", min=1, help="SynthWorld: number of places."),
    seed: int = typer.Option(2026, "--seed", help="SynthWorld: seed of the places."),
    size: int = typer.Option(256, "--size", min=32, max=1024, help="View size in px (SynthWorld, panoramas)."),
    duration: float = typer.Option(0.0, "--duration", min=0.0, help="Stop after this many seconds (0 = until Ctrl-C)."),
    duel_delay: float = typer.Option(3.0, "--duel-delay", min=0.0, max=60.0,
                                     help="Duels: seconds between the end of a round and the next."),
) -> None:
    """Serve the arena until Ctrl-C: lobby at /, duels at /duels, country streaks at /streaks."""
    from bot.arena.server import serve as start

    server = start(map_name, host=host, port=port, hide_answer=hide_answer, locations=locations, map_seed=seed,
                   size=size, duel_delay_s=duel_delay)
    skipped = server.store.map.skipped
    if skipped:
        typer.echo(f"skipped {len(skipped)} location(s)/row(s): " + "; ".join(skipped[:5]), err=True)
    typer.echo(f"arena: map {server.store.map.name} ({len(server.store.map)} places), "
               f"hide-answer {'on' if hide_answer else 'off'}, open {server.url}/ (duels {server.url}/duels, "
               f"country streaks {server.url}/streaks)")
    try:
        deadline = time.monotonic() + duration if duration else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    app()
