"""The bare stack: the least code that does the product's message job on the same libraries
(uvicorn, one Channels AsyncWebsocketConsumer, psycopg 3, the channels-redis pub/sub layer).

It is the yardstick of issue 15: scripts/bench_ratio.py drives it and the product with the
same load client and reports product/bare. app.py is the ASGI app, stack.py creates its
database and starts its processes."""
