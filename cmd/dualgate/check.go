package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dualgate/dualgate/catalog"
)

// errInvalidCatalog makes `dualgate check` exit with status 1 after the
// report has been printed.
var errInvalidCatalog = errors.New("catalog is invalid")

func newCheck() *cobra.Command {
	var paths []string
	cmd := &cobra.Command{
		Use:   "check --catalog FILE|DIR ...",
		Short: "Validate a catalog without serving (exit status 1 on errors)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			if len(paths) == 0 {
				return errors.New("--catalog FILE|DIR is required")
			}
			report, ok := catalog.Check(paths...)
			fmt.Fprintln(cmd.OutOrStdout(), report)
			if !ok {
				return errInvalidCatalog
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&paths, "catalog", nil, "catalog FILE or DIR (repeatable)")
	return cmd
}
