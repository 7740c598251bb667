import uvloop

from services.worker.main import main

uvloop.run(main())
