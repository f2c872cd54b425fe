import sys

from appointment_pipeline.demo.cli import main

sys.exit(main())
