# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue';"]
RUN New-Item -ItemType Directory C:\Example
ADD Example.ps1 C:\Example\
RUN powershell -Command `
    $ErrorActionPreference = 'Stop'; `
    Invoke-WebRequest -Uri https://example.com/tool.zip -OutFile C:\tool.zip ; `
    Expand-Archive C:\tool.zip -DestinationPath C:\tool
WORKDIR C:\Example
CMD ["powershell", "C:\\Example\\Example.ps1"]
