"""The web view: a JSON API over the query layer and static pages that draw it."""
