; Inno Setup 6 script (6.3 or later: it uses the x64compatible architecture name) for
; Lifeboat's Windows installer: dist\Lifeboat-<version>-setup.exe.
; Built by `python packaging\build.py --installer` on Windows, which passes the version and
; the PyInstaller bundle:
;   ISCC.exe /DAppVersion=0.1.0 /DBundleDir=..\..\dist\lifeboat /O..\..\dist lifeboat.iss
;
; - Installs for the current user only (no administrator rights): the program goes to
;   %LOCALAPPDATA%\Programs\Lifeboat, the login item is the user's own Run key value.
; - Start menu: "Lifeboat" starts the tray (lifeboatw.exe, no console window).
; - Optional task: start Lifeboat at login, the same Run value the Settings dialog writes,
;   so either place can turn it off.
; - The uninstaller removes only what Setup installed (and a login item pointing into it):
;   the user's snapshots, catalog and config in %LOCALAPPDATA%\lifeboat stay.

#ifndef AppVersion
  #error Define AppVersion, e.g. ISCC /DAppVersion=0.1.0 (packaging\build.py does)
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\lifeboat"
#endif
#define RunKey "Software\Microsoft\Windows\CurrentVersion\Run"

[Setup]
; The AppId ties upgrades and the uninstaller to this app: never change it.
AppId={{EB8C6848-56C8-4811-8555-869A8C571934}
AppName=Lifeboat
AppVersion={#AppVersion}
AppVerName=Lifeboat {#AppVersion}
AppPublisher=Lifeboat developers
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\Lifeboat
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputBaseFilename=Lifeboat-{#AppVersion}-setup
SetupIconFile=..\..\resources\lifeboat.ico
UninstallDisplayIcon={app}\lifeboatw.exe
UninstallDisplayName=Lifeboat
WizardStyle=modern
Compression=lzma2
SolidCompression=yes
; A running Lifeboat holds its files open: the Restart Manager closes it for an upgrade
; or uninstall (after asking).
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "startatlogin"; Description: "Start Lifeboat when I sign in"; GroupDescription: "Start-up:"
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the whole bundle: files a newer PyInstaller build no longer has
; must not linger beside the new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Lifeboat"; Filename: "{app}\lifeboatw.exe"; Comment: "Keeps SQLite databases safe"
Name: "{autodesktop}\Lifeboat"; Filename: "{app}\lifeboatw.exe"; Tasks: desktopicon

[Registry]
; The value name and command line are the ones app/lifeboat/gui/autostart.py writes.
Root: HKCU; Subkey: "{#RunKey}"; ValueType: string; ValueName: "Lifeboat"; ValueData: """{app}\lifeboatw.exe"" tray --minimized"; Tasks: startatlogin; Flags: uninsdeletevalue

[Run]
Filename: "{app}\lifeboatw.exe"; Description: "{cm:LaunchProgram,Lifeboat}"; Flags: nowait postinstall skipifsilent

; No [UninstallDelete]: the uninstaller deletes only the files it installed, so the data
; Lifeboat wrote under %LOCALAPPDATA%\lifeboat (config, catalog, snapshots, logs) stays.

[Code]
// A login item turned on later from Settings is not in Setup's uninstall log, so the
// [Registry] entry would leave it behind, pointing at a deleted program. Remove it when
// it points into the application folder (not when it starts some other installation).
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Command: String;
begin
  if (CurUninstallStep = usUninstall) and
     RegQueryStringValue(HKCU, '{#RunKey}', 'Lifeboat', Command) and
     (Pos(Lowercase(ExpandConstant('{app}')), Lowercase(Command)) > 0) then
    RegDeleteValue(HKCU, '{#RunKey}', 'Lifeboat');
end;
