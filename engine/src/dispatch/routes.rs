//! Routes at run time (SPEC §8): which binds take which destinations, by longest prefix,
//! priority and weight. Persisted, and published to the router at once.

use flit_storage::Batch;

use crate::engine::Engine;
use crate::error::{EngineError, Invalid, Missing};
use crate::ids::{BindId, RouteId};
use crate::store::records::RouteRecord;
use crate::store::tables;

#[derive(Clone, Debug, Default)]
pub struct NewRoute {
    pub prefix: String,
    pub binds: Vec<BindId>,
    pub priority: i32,
    pub weights: Vec<u32>,
}

impl Engine {
    pub async fn create_route(&self, new: NewRoute) -> Result<RouteRecord, EngineError> {
        let prefix = new.prefix.trim().trim_start_matches('+').to_string();
        if !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 15 {
            return Err(EngineError::from(Invalid::RoutePrefix));
        }
        if new.binds.is_empty() {
            return Err(EngineError::from(Invalid::RouteWithoutBinds));
        }
        for bind in &new.binds {
            if self.bind_record(*bind)?.is_none() {
                return Err(EngineError::NotFound(Missing::Bind));
            }
        }
        if !new.weights.is_empty() && new.weights.len() != new.binds.len() {
            return Err(EngineError::from(Invalid::RouteWeights));
        }
        let route = RouteRecord {
            id: RouteId::new(),
            prefix,
            binds: new.binds,
            priority: new.priority,
            weights: new.weights,
        };
        let mut batch = Batch::new();
        tables::ROUTES.put(&mut batch, &route.id, &route);
        self.store().commit(batch).await?;
        self.reload_routes()?;
        Ok(route)
    }

    pub async fn remove_route(&self, id: RouteId) -> Result<(), EngineError> {
        if tables::ROUTES.get(self.store(), &id)?.is_none() {
            return Err(EngineError::NotFound(Missing::Route));
        }
        let mut batch = Batch::new();
        tables::ROUTES.delete(&mut batch, &id);
        self.store().commit(batch).await?;
        self.reload_routes()?;
        Ok(())
    }

    pub fn routes(&self) -> Result<Vec<RouteRecord>, EngineError> {
        Ok(tables::ROUTES.values(self.store(), &())?)
    }

    /// Publishes the stored routes to the router and lets parked work try them.
    pub(crate) fn reload_routes(&self) -> Result<(), EngineError> {
        let routes = self.routes()?;
        *self
            .dispatch()
            .routes
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = routes;
        self.dispatch().unpark();
        Ok(())
    }
}
