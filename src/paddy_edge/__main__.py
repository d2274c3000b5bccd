from paddy_edge.cli import app

app()
