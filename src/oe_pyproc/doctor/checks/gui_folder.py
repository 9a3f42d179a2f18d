import os

from ..findings import OK, WARN, Finding

ID = "gui-folder"
TITLE = "GUI saved-state folder"


def check(context):
    if os.path.isdir(context.gui.saved_state):
        return Finding(ID, OK, TITLE, context.gui.saved_state)
    return Finding(ID, WARN, TITLE, "%s does not exist: the Open Ephys GUI has not run as this user"
                   % context.gui.saved_state,
                   "start the Open Ephys GUI once, or pass --gui-dir with the folder it uses")
