"""The `waystation` command line: glue over bot, staff, storage and crypto."""
