"""Save an HTML page as a password-protected OpenDocument text through LibreOffice's UNO API.

Run with the system Python that has LibreOffice's ``uno`` module (Debian: python3-uno):
    /usr/bin/python3 lock_odt.py IN.html OUT.odt PASSWORD
"""

import subprocess
import sys
import time

import uno
from com.sun.star.beans import PropertyValue


def prop(name, value):
    result = PropertyValue()
    result.Name, result.Value = name, value
    return result


def main(source, target, password):
    office = subprocess.Popen(
        [
            "soffice",
            "-env:UserInstallation=file:///tmp/lo-profile-uno",
            "--headless",
            "--norestore",
            "--accept=socket,host=127.0.0.1,port=2202;urp;",
        ]
    )
    try:
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local
        )
        for _ in range(60):
            try:
                url = "uno:socket,host=127.0.0.1,port=2202;urp;StarOffice.ComponentContext"
                context = resolver.resolve(url)
                break
            except Exception:
                time.sleep(1)
        desktop = context.ServiceManager.createInstanceWithContext(
            "com.sun.star.frame.Desktop", context
        )
        load = (prop("Hidden", True), prop("FilterName", "HTML (StarWriter)"))
        document = desktop.loadComponentFromURL(uno.systemPathToFileUrl(source), "_blank", 0, load)
        store = (prop("FilterName", "writer8"), prop("Password", password))
        document.storeToURL(uno.systemPathToFileUrl(target), store)
        document.close(True)
    finally:
        office.terminate()
        office.wait(timeout=30)


if __name__ == "__main__":
    main(*sys.argv[1:4])
