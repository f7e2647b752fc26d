from tradewire.cli import main

main()
