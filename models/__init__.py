"""All of Vahti's storage: tables, migrations, engines and the store functions."""
