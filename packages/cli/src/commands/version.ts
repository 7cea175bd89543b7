import { Command, Flags } from '@oclif/core';

interface VersionResult {
  cliVersion: string;
  architecture: string;
  nodeVersion: string;
  osVersion?: string;
  shell?: string;
  rootPath?: string;
  pluginVersions?: string[];
}

/**
 * `tarscli version`: what @oclif/plugin-version prints (the same line and JSON), with the
 * description that command lacks, and no registry lookup under --verbose (it asked npm for
 * tarscli's publish date, which fails offline and is not a published package).
 */
export default class Version extends Command {
  static override summary = 'Print the tarscli version';
  static override description = 'One line: tarscli/VERSION, platform, architecture and Node. --verbose adds the OS, the shell, where tarscli runs from and each plugin\'s version; --json prints the same as an object.';
  static override examples = ['<%= config.bin %> version', '<%= config.bin %> version --verbose --json'];
  static override enableJsonFlag = true;
  static override flags = {
    verbose: Flags.boolean({ description: 'Also the OS, the shell, the root path and the plugins with their versions', default: false }),
  };

  async run(): Promise<VersionResult> {
    const { flags } = await this.parse(Version);
    const { pluginVersions, ...details } = this.config.versionDetails;
    const base = { cliVersion: details.cliVersion, architecture: details.architecture, nodeVersion: details.nodeVersion };
    if (!flags.verbose) {
      this.log(this.config.userAgent);
      return base;
    }
    const plugins = Object.entries(pluginVersions ?? {})
      .map(([name, p]) => `${name} ${p.version} (${p.type})`)
      .sort();
    const full = { ...base, osVersion: details.osVersion, shell: details.shell ?? 'unknown', rootPath: details.rootPath, pluginVersions: plugins };
    this.log(
      [
        `CLI version:    ${full.cliVersion}`,
        `architecture:   ${full.architecture}`,
        `node:           ${full.nodeVersion}`,
        `OS:             ${full.osVersion ?? 'unknown'}`,
        `shell:          ${full.shell}`,
        `root path:      ${full.rootPath ?? 'unknown'}`,
        `plugins:        ${plugins.join('\n                ')}`,
      ].join('\n'),
    );
    return full;
  }
}
