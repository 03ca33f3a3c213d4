from evalharness.cli.main import main

main()
