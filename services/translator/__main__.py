import asyncio

from services.translator.main import main

asyncio.run(main())
