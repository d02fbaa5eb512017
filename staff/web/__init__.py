"""The caseworkers' web desk: a local web app on 127.0.0.1 over one staff.desk.Desk (docs/desk.md)."""
