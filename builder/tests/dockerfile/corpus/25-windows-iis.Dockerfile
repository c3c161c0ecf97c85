# escape=`
FROM mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2019
SHELL ["powershell", "-NoProfile", "-Command"]
RUN Remove-Item -Recurse C:\inetpub\wwwroot\*; `
    Install-WindowsFeature Web-Asp-Net45
WORKDIR /inetpub/wwwroot
COPY content/ .
HEALTHCHECK --interval=60s CMD powershell -command `
    try { `
     $response = iwr http://localhost -UseBasicParsing; `
     if ($response.StatusCode -eq 200) { return 0} `
     else {return 1}; `
    } catch { return 1 }
