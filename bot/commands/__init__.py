"""The `/recording` commands: their types (`types`), the text parser (`parser`) and the pause form's reader (`form`)."""
