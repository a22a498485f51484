"""A host module that imports slack_bolt itself, as SLACK_BOLT_APP may name one: without the
[bolt] extra, the system check's hint says which extra to install."""

from slack_bolt import App

app = App
