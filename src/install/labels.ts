// The label every object meshd installs carries: `meshd uninstall` and `kubectl get -l` find them by it.
export const PART_OF = 'meshd';
export const PART_OF_LABEL = { 'app.kubernetes.io/part-of': PART_OF } as const;
