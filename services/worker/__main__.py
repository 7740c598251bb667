import asyncio

from services.worker.main import main

asyncio.run(main())
