import asyncio

from services.store.main import main

asyncio.run(main())
