import uvloop

from services.translator.main import main

uvloop.run(main())
