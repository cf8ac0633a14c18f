"""The engine: turns, dialogs, help, hostile input, words for users, import graph, config, migrations, scheduler, CLI."""
