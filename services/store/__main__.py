import uvloop

from services.store.main import main

uvloop.run(main())
